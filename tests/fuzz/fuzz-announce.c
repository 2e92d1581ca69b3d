/*
 * fuzz-announce: a tracker's reply is hostile input. Whatever the parser
 * accepts must hold only what its contract promises (an interval in
 * range, peers with a known family and a port), and a refusal must
 * come with a message.
 */
#include <stdint.h>
#include <stdlib.h>

#include "announce.h"
#include "net-error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(const NetAnnounceReply *reply)
{
	if (reply->interval < 1 || reply->interval > NET_ANNOUNCE_MAX_INTERVAL)
		abort();
	for (guint i = 0; i < reply->peers->len; i++) {
		const NetAnnouncePeer *peer =
			&g_array_index(reply->peers, NetAnnouncePeer, i);
		if (peer->port == 0 || (peer->family != G_SOCKET_FAMILY_IPV4 &&
					peer->family != G_SOCKET_FAMILY_IPV6))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetAnnounceReply) reply =
		net_announce_reply_parse(data, size, &error);

	if (reply != NULL)
		check_reply(reply);
	else if (error == NULL || error->message == NULL ||
		 error->message[0] == '\0')
		abort();
	return 0;
}
