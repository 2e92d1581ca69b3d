/*
 * rate: bytes per second over a short sliding window, for transfer
 * statistics and for sizing request pipelines.
 *
 * Owns: a ring of per-slot byte counts. Must not: read the clock
 * itself; every call takes the monotonic time in microseconds, so the
 * owner decides what "now" is and tests can run on fake time.
 *
 * The window is NET_RATE_SLOTS slots of NET_RATE_SLOT_US. A rate is the
 * bytes of the slots that fell in the window divided by the time they
 * cover, which starts at the first sample: a transfer that began 300 ms
 * ago is measured over 300 ms, not over the whole window, so a fresh
 * connection's pipeline grows within a fraction of a second.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NET_RATE_SLOTS 8
#define NET_RATE_SLOT_US (250 * 1000)

typedef struct _NetRate NetRate;

NetRate *net_rate_new(void);
void net_rate_free(NetRate *rate);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetRate, net_rate_free)

/* Counts @bytes at @now_us; time never goes back (an earlier @now_us
 * counts as the latest one seen). */
void net_rate_add(NetRate *rate, guint64 bytes, gint64 now_us);

/* Bytes per second over the window ending at @now_us. */
double net_rate_get(NetRate *rate, gint64 now_us);

G_END_DECLS
