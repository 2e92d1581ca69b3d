/*
 * hangup-stream: a GIOStream over another one that keeps a client's
 * hang-up between two requests away from libsoup, for clients.c.
 *
 * libsoup 3.2 leaks a kept-alive connection whose client closes it
 * while idle: it reads the end of the stream for a request that has not
 * started, and then never drops the connection (see clients.h). Through
 * this stream, while it is armed, an end of stream or a read error that
 * comes before any byte is not returned: the stream reports the hang-up
 * to its watcher and makes libsoup's read wait for ever, until the
 * watcher takes the connection back from libsoup and closes it. Any
 * byte disarms it: from there on libsoup sees everything, as it handles
 * a hang-up in the middle of a request correctly.
 *
 * Owns: its input stream and a reference on the base stream. Must not:
 * call libsoup; the watcher is called from inside libsoup's read, so it
 * may only note the hang-up and act later.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef void (*TrackerHangupFunc)(gpointer data);

/* Reads from @base (whose input must be pollable) and writes to it;
 * closing the new stream closes @base. Starts disarmed. */
GIOStream *tracker_hangup_stream_new(GIOStream *base);

/* @hung_up is called once, when an armed read meets the end of the
 * stream or an error; @closed when the stream is closed, by whoever.
 * NULLs: no more calls. */
void tracker_hangup_stream_watch(GIOStream *stream, TrackerHangupFunc hung_up,
				 TrackerHangupFunc closed, gpointer data);

/* Armed: the client is between requests, so an end of stream or an
 * error before the next byte is a hang-up. */
void tracker_hangup_stream_arm(GIOStream *stream, gboolean armed);

G_END_DECLS
