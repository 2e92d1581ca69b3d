/*
 * bencode: a strict BEP 3 bencode parser and a canonical emitter.
 *
 * Owns: the value tree (NetBencode) and the bytes it was parsed from.
 * Must not: touch sockets or files, or accept anything that is not
 * canonical (leading zeros, "i-0e", unsorted or duplicate dict keys,
 * trailing bytes). Input is hostile: every length is checked against
 * NetBencodeLimits before anything is allocated for it.
 *
 * A parsed value remembers the exact byte span it was parsed from
 * (net_bencode_get_raw), so that an info-hash is computed over the
 * "info" dictionary exactly as received, never over a re-encoding.
 *
 * Ownership: a tree is freed through its root only; values returned by
 * lookups are borrowed from the tree and live as long as the root.
 * Parsed trees are read-only; only built containers can be added to,
 * and only a root (built, or the root of a parsed tree) can be added.
 *
 * Errors: messages read "bencode: byte N: RULE", N counted from 0.
 * NET_ERROR_TRUNCATED means the input ended inside a value (a longer
 * input may parse), NET_ERROR_BENCODE that no longer input can, and
 * NET_ERROR_LIMIT that a limit was hit; an integer outside gint64 is a
 * NET_ERROR_LIMIT too (BEP 3 allows it; we do not).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
	NET_BENCODE_INT,
	NET_BENCODE_STRING,
	NET_BENCODE_LIST,
	NET_BENCODE_DICT,
} NetBencodeType;

typedef struct {
	guint max_depth; /* nesting of lists and dicts */
	gsize max_string; /* bytes in one string */
	gsize max_size; /* bytes in the whole input */
	gsize max_items; /* values in the whole tree, dict keys included */
} NetBencodeLimits;

/* Limits for small protocol messages (tracker replies, extension
 * handshakes): depth 32, strings 1 MiB, input 4 MiB, 65536 values. */
extern const NetBencodeLimits net_bencode_limits_default;

typedef struct _NetBencode NetBencode;

/* Parses exactly one value that spans all of @data. Keeps a reference
 * to @data. NULL @limits means net_bencode_limits_default. On failure, the error (NET_ERROR_TRUNCATED, _BENCODE or
 * _LIMIT) names the byte offset and the rule that was broken. */
NetBencode *net_bencode_parse(GBytes *data, const NetBencodeLimits *limits,
			      GError **error);

/* Like net_bencode_parse, but parses one value at the start of @data
 * and stores in @consumed how many bytes it took; trailing bytes are
 * left for the caller. NET_ERROR_TRUNCATED means: feed more bytes; once
 * @data holds more than max_size bytes without a whole value, the error
 * is NET_ERROR_LIMIT instead. @consumed is 0 on failure. */
NetBencode *net_bencode_parse_prefix(GBytes *data,
				     const NetBencodeLimits *limits,
				     gsize *consumed, GError **error);

/* Convenience: copies @len bytes at @data and parses them. */
NetBencode *net_bencode_parse_data(const void *data, gsize len,
				   const NetBencodeLimits *limits,
				   GError **error);

void net_bencode_free(NetBencode *value);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetBencode, net_bencode_free)

NetBencodeType net_bencode_get_type(const NetBencode *value);

/* The bytes this value was parsed from, or NULL for a built value. */
const guint8 *net_bencode_get_raw(const NetBencode *value, gsize *len);

/* Typed accessors: FALSE / NULL when @value has another type. */
gboolean net_bencode_get_int(const NetBencode *value, gint64 *out);
/* Not NUL-terminated: strings are byte strings. */
const guint8 *net_bencode_get_string(const NetBencode *value, gsize *len);
/* A copy as a C string, or NULL when the string holds a NUL byte or
 * is not valid UTF-8. */
char *net_bencode_dup_utf8(const NetBencode *value);

/* 0 / NULL when @list is not a list or @i is out of range. */
gsize net_bencode_list_length(const NetBencode *list);
NetBencode *net_bencode_list_nth(const NetBencode *list, gsize i);

gsize net_bencode_dict_size(const NetBencode *dict);
/* Entries are in key order; @key is not NUL-terminated. NULL when @dict
 * is not a dict or @i is out of range. */
NetBencode *net_bencode_dict_nth(const NetBencode *dict, gsize i,
				 const guint8 **key, gsize *key_len);
/* Binary search; NULL when absent or @dict is not a dict. */
NetBencode *net_bencode_dict_lookup(const NetBencode *dict, const char *key);

/* Building trees. Containers take ownership of the values added. */
NetBencode *net_bencode_new_int(gint64 v);
NetBencode *net_bencode_new_string(const void *data, gsize len);
NetBencode *net_bencode_new_str(const char *s);
NetBencode *net_bencode_new_list(void);
NetBencode *net_bencode_new_dict(void);
void net_bencode_list_append(NetBencode *list, NetBencode *item);
/* Replaces an existing entry with the same key. */
void net_bencode_dict_insert(NetBencode *dict, const char *key,
			     NetBencode *item);

/* Canonical encoding: dict keys sorted as raw byte strings. */
void net_bencode_encode_to(const NetBencode *value, GByteArray *out);
GBytes *net_bencode_encode(const NetBencode *value);

/*
 * Low-level emitters for hot paths that never build a tree (tracker
 * replies, extension messages). The caller is responsible for writing
 * dict keys in sorted order.
 */
void net_bencode_emit_int(GByteArray *out, gint64 v);
void net_bencode_emit_string(GByteArray *out, const void *data, gsize len);
void net_bencode_emit_str(GByteArray *out, const char *s);
void net_bencode_emit_list_begin(GByteArray *out);
void net_bencode_emit_dict_begin(GByteArray *out);
void net_bencode_emit_end(GByteArray *out);

G_END_DECLS
