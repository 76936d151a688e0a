/* The systemd notification protocol: a datagram to $NOTIFY_SOCKET. */
#pragma once

/* Sends state (e.g. "READY=1") when NOTIFY_SOCKET is set. 0 when sent or not wanted. */
int eng_notify(const char *state);
