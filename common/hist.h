/* A fixed-bucket latency histogram, as Prometheus histograms count: observations in seconds,
 * one counter per upper bound plus the overflow, a sum and a count. Plain data: embed it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Upper bounds: 0.0005, 0.001, 0.0025, ... 5 seconds; observations above go to +Inf. */
#define ISO_HIST_BOUNDS 14

struct iso_hist {
    uint64_t counts[ISO_HIST_BOUNDS + 1]; /* per bucket, not cumulative; the last is +Inf */
    uint64_t count;
    double sum;
};

/* The upper bound of bucket i (< ISO_HIST_BOUNDS), in seconds. */
double iso_hist_bound(size_t i);

void iso_hist_observe(struct iso_hist *h, double seconds);
