#include "common/hist.h"

/* Prometheus' default buckets with two more at the fast end: most API calls answer in well
 * under a millisecond. */
static const double bounds[ISO_HIST_BOUNDS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

double iso_hist_bound(size_t i)
{
    return bounds[i];
}

void iso_hist_observe(struct iso_hist *h, double seconds)
{
    size_t i = 0;

    if (seconds < 0)
        seconds = 0;
    while (i < ISO_HIST_BOUNDS && seconds > bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += seconds;
}
