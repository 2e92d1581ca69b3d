/*
 * fuzz-bencode: the parser accepts only canonical bencode, so whatever it
 * accepts must re-encode to exactly the input, and its prefix parser must
 * agree on where the value ends. Anything else is a bug: abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_prefix(GBytes *input, gboolean whole_ok)
{
	g_autoptr(NetBencode) value = NULL;
	gsize consumed = 0;

	value = net_bencode_parse_prefix(input, NULL, &consumed, NULL);
	if (whole_ok && (value == NULL || consumed != g_bytes_get_size(input)))
		abort();
	if (value != NULL && consumed > g_bytes_get_size(input))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GBytes) input = g_bytes_new(data, size);
	g_autoptr(GError) error = NULL;
	g_autoptr(NetBencode) value = NULL;
	g_autoptr(GBytes) encoded = NULL;

	value = net_bencode_parse(input, NULL, &error);
	check_prefix(input, value != NULL);
	if (value == NULL) {
		if (error == NULL ||
		    !g_str_has_prefix(error->message, "bencode: byte "))
			abort();
		return 0;
	}
	encoded = net_bencode_encode(value);
	if (!g_bytes_equal(encoded, input))
		abort();
	return 0;
}
