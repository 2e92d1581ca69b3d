#include "rate.h"

#include <string.h>

/* The shortest span a rate is computed over: a single early sample
 * must not read as an enormous rate. */
#define RATE_MIN_SPAN_US (100 * 1000)

struct _NetRate {
	guint64 slots[NET_RATE_SLOTS];
	gint64 slot; /* the latest slot's number: time / NET_RATE_SLOT_US */
	gint64 first_us; /* the first sample's time; -1 before it */
	gint64 last_us;
};

NetRate *net_rate_new(void)
{
	NetRate *rate = g_new0(NetRate, 1);

	rate->first_us = -1;
	return rate;
}

void net_rate_free(NetRate *rate)
{
	g_free(rate);
}

/* Moves the window so that it ends in the slot of @now_us, emptying
 * the slots it passes. */
static void rate_advance(NetRate *rate, gint64 now_us)
{
	gint64 slot;

	now_us = MAX(now_us, rate->last_us);
	rate->last_us = now_us;
	slot = now_us / NET_RATE_SLOT_US;
	if (slot - rate->slot >= NET_RATE_SLOTS) {
		memset(rate->slots, 0, sizeof rate->slots);
	} else {
		for (gint64 s = rate->slot + 1; s <= slot; s++)
			rate->slots[s % NET_RATE_SLOTS] = 0;
	}
	rate->slot = slot;
}

void net_rate_add(NetRate *rate, guint64 bytes, gint64 now_us)
{
	if (rate->first_us < 0) {
		rate->first_us = now_us;
		rate->last_us = now_us;
		rate->slot = now_us / NET_RATE_SLOT_US;
	}
	rate_advance(rate, now_us);
	rate->slots[rate->slot % NET_RATE_SLOTS] += bytes;
}

double net_rate_get(NetRate *rate, gint64 now_us)
{
	guint64 sum = 0;
	gint64 window_start, span;

	if (rate->first_us < 0)
		return 0;
	rate_advance(rate, now_us);
	for (guint i = 0; i < NET_RATE_SLOTS; i++)
		sum += rate->slots[i];
	/* The oldest slot is partly outside the window; counting it whole
	 * over a whole window errs low by at most one slot. */
	window_start = (rate->slot - NET_RATE_SLOTS + 1) * NET_RATE_SLOT_US;
	span = rate->last_us - MAX(window_start, rate->first_us);
	return (double)sum * G_USEC_PER_SEC / MAX(span, RATE_MIN_SPAN_US);
}
