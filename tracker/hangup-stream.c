#include "hangup-stream.h"

/* The input half does all the work; the output half is the base's. */
#define TRACKER_TYPE_HANGUP_INPUT (tracker_hangup_input_get_type())
G_DECLARE_FINAL_TYPE(TrackerHangupInput, tracker_hangup_input, TRACKER,
		     HANGUP_INPUT, GInputStream)

struct _TrackerHangupInput {
	GInputStream parent;
	GIOStream *base;
	GInputStream *in; /* base's input, pollable */
	gboolean armed;
	gboolean hung; /* reported: every read waits from now on */
	TrackerHangupFunc hung_up;
	TrackerHangupFunc closed;
	gpointer data;
};

static void pollable_init(GPollableInputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE(TrackerHangupInput, tracker_hangup_input,
			G_TYPE_INPUT_STREAM,
			G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM,
					      pollable_init))

static gssize would_block(GError **error)
{
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
			    "The client hung up; the connection is closing.");
	return -1;
}

static gssize guarded_read(TrackerHangupInput *self, void *buffer, gsize count,
			   gboolean blocking, GCancellable *cancellable,
			   GError **error)
{
	g_autoptr(GError) local = NULL;
	gssize n;

	if (self->hung)
		return would_block(error);
	if (count == 0)
		return 0;
	n = g_pollable_stream_read(self->in, buffer, count, blocking,
				   cancellable, &local);
	if (n > 0) {
		self->armed = FALSE;
		return n;
	}
	if (self->armed &&
	    !g_error_matches(local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
		self->hung = TRUE;
		if (self->hung_up)
			self->hung_up(self->data);
		return would_block(error);
	}
	if (local)
		g_propagate_error(error, g_steal_pointer(&local));
	return n;
}

/* Only for completeness: libsoup's server reads without blocking. */
static gssize input_read(GInputStream *stream, void *buffer, gsize count,
			 GCancellable *cancellable, GError **error)
{
	return guarded_read(TRACKER_HANGUP_INPUT(stream), buffer, count, TRUE,
			    cancellable, error);
}

/* Closes the whole base, which is what closing a connection means. */
static gboolean input_close(GInputStream *stream, GCancellable *cancellable,
			    GError **error)
{
	TrackerHangupInput *self = TRACKER_HANGUP_INPUT(stream);
	gboolean ok = g_io_stream_close(self->base, cancellable, error);

	if (self->closed)
		self->closed(self->data);
	return ok;
}

static gboolean pollable_can_poll(GPollableInputStream *stream)
{
	return TRUE;
}

static gboolean pollable_is_readable(GPollableInputStream *stream)
{
	TrackerHangupInput *self = TRACKER_HANGUP_INPUT(stream);

	return !self->hung && g_pollable_input_stream_is_readable(
				      G_POLLABLE_INPUT_STREAM(self->in));
}

/* The base's own source while listening: this stream is readable
 * exactly when the base is, and a wrapper of our own (a GSource and a
 * closure more for every wait of every request) would cost the announce
 * rate a few percent. Its callback gets the base stream, which libsoup,
 * wrapping it in sources of its own, never sees. Once hung, a source
 * with no child: it never fires. */
static GSource *pollable_create_source(GPollableInputStream *stream,
				       GCancellable *cancellable)
{
	TrackerHangupInput *self = TRACKER_HANGUP_INPUT(stream);

	if (self->hung)
		return g_pollable_source_new_full(stream, NULL, cancellable);
	return g_pollable_input_stream_create_source(
		G_POLLABLE_INPUT_STREAM(self->in), cancellable);
}

static gssize pollable_read_nonblocking(GPollableInputStream *stream,
					void *buffer, gsize count,
					GError **error)
{
	return guarded_read(TRACKER_HANGUP_INPUT(stream), buffer, count, FALSE,
			    NULL, error);
}

static void pollable_init(GPollableInputStreamInterface *iface)
{
	iface->can_poll = pollable_can_poll;
	iface->is_readable = pollable_is_readable;
	iface->create_source = pollable_create_source;
	iface->read_nonblocking = pollable_read_nonblocking;
}

static void tracker_hangup_input_finalize(GObject *object)
{
	TrackerHangupInput *self = TRACKER_HANGUP_INPUT(object);

	g_clear_object(&self->base);
	G_OBJECT_CLASS(tracker_hangup_input_parent_class)->finalize(object);
}

static void tracker_hangup_input_class_init(TrackerHangupInputClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = tracker_hangup_input_finalize;
	G_INPUT_STREAM_CLASS(klass)->read_fn = input_read;
	G_INPUT_STREAM_CLASS(klass)->close_fn = input_close;
}

static void tracker_hangup_input_init(TrackerHangupInput *self)
{
}

GIOStream *tracker_hangup_stream_new(GIOStream *base)
{
	g_autoptr(TrackerHangupInput) input =
		g_object_new(TRACKER_TYPE_HANGUP_INPUT, NULL);

	g_return_val_if_fail(
		G_IS_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(base)),
		NULL);
	input->base = g_object_ref(base);
	input->in = g_io_stream_get_input_stream(base);
	return g_simple_io_stream_new(G_INPUT_STREAM(input),
				      g_io_stream_get_output_stream(base));
}

static TrackerHangupInput *input_of(GIOStream *stream)
{
	return TRACKER_HANGUP_INPUT(g_io_stream_get_input_stream(stream));
}

void tracker_hangup_stream_watch(GIOStream *stream, TrackerHangupFunc hung_up,
				 TrackerHangupFunc closed, gpointer data)
{
	TrackerHangupInput *self = input_of(stream);

	self->hung_up = hung_up;
	self->closed = closed;
	self->data = data;
}

void tracker_hangup_stream_arm(GIOStream *stream, gboolean armed)
{
	input_of(stream)->armed = armed;
}
