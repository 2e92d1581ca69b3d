/*
 * bencode: a strict BEP 3 parser and canonical emitter.
 *
 * The parser is a loop over an explicit stack of open containers, not a
 * recursion, so max_depth alone bounds the memory a hostile nesting can
 * take. A parsed tree is immutable, so all its nodes and child arrays come
 * from one bump arena: parsing costs a few block allocations, not one per
 * value, and freeing it frees the blocks. Parsed strings and dict keys
 * point into the GBytes the arena holds. Built trees allocate per node,
 * since they grow one insert at a time.
 */
#include "bencode.h"

#include <string.h>

#include "net-error.h"

const NetBencodeLimits net_bencode_limits_default = {
	.max_depth = 32,
	.max_string = 1024 * 1024,
	.max_size = 4 * 1024 * 1024,
	.max_items = 65536,
};

typedef struct {
	const guint8 *key; /* parsed: into the input; built: owned */
	gsize key_len;
	NetBencode *value; /* NULL only while the parser awaits it */
} NetBencodeEntry;

/* Owns every node of one parsed tree, and the input they point into. */
typedef struct {
	GBytes *bytes;
	GPtrArray *blocks; /* owned, g_free */
	guint8 *next;
	gsize left; /* bytes free at @next */
	gsize block_size; /* for the next block; doubles up to a cap */
} NetBencodeArena;

struct _NetBencode {
	NetBencodeType type;
	/* The span this value was parsed from, NULL for a built value: a NULL
	 * raw is also what says that the node and its data are owned one by
	 * one rather than by an arena. */
	const guint8 *raw;
	gsize raw_len;
	NetBencodeArena *arena; /* the root of a parsed tree only */
	union {
		gint64 integer;
		struct {
			const guint8 *data; /* built: owned, NUL-terminated */
			gsize len;
		} string;
		struct {
			NetBencode **items; /* owned by the arena or the node */
			gsize len, cap;
		} list;
		struct {
			NetBencodeEntry
				*entries; /* sorted by key, no repeats */
			gsize len, cap;
		} dict;
	};
};

static NetBencodeArena *arena_new(GBytes *bytes)
{
	NetBencodeArena *arena = g_new0(NetBencodeArena, 1);

	arena->bytes = g_bytes_ref(bytes);
	arena->blocks = g_ptr_array_new_with_free_func(g_free);
	/* A value takes at least 2 input bytes per node, so this first block
	 * fits most messages whole. */
	arena->block_size = CLAMP(g_bytes_get_size(bytes) * 8, 256, 64 * 1024);
	return arena;
}

static void arena_free(NetBencodeArena *arena)
{
	g_bytes_unref(arena->bytes);
	g_ptr_array_unref(arena->blocks);
	g_free(arena);
}

static gpointer arena_alloc(NetBencodeArena *arena, gsize size)
{
	gpointer at;

	size = (size + 7) & ~(gsize)7; /* nodes hold pointers and gint64 */
	if (size > arena->left) {
		gsize block = MAX(size, arena->block_size);

		arena->block_size = MIN(arena->block_size * 2, 1024 * 1024);
		arena->next = g_malloc(block);
		arena->left = block;
		g_ptr_array_add(arena->blocks, arena->next);
	}
	at = arena->next;
	arena->next += size;
	arena->left -= size;
	return at;
}

static NetBencode *built_new(NetBencodeType type)
{
	NetBencode *value = g_new0(NetBencode, 1);

	value->type = type;
	return value;
}

/* Frees @value's own storage; built children go to @pending. */
static void node_free(NetBencode *value, GPtrArray *pending)
{
	if (value->raw != NULL) {
		arena_free(value->arena); /* the whole tree, @value with it */
		return;
	}
	if (value->type == NET_BENCODE_STRING) {
		g_free((gpointer)value->string.data);
	} else if (value->type == NET_BENCODE_LIST) {
		for (gsize i = 0; i < value->list.len; i++)
			g_ptr_array_add(pending, value->list.items[i]);
		g_free(value->list.items);
	} else if (value->type == NET_BENCODE_DICT) {
		for (gsize i = 0; i < value->dict.len; i++) {
			g_free((gpointer)value->dict.entries[i].key);
			g_ptr_array_add(pending, value->dict.entries[i].value);
		}
		g_free(value->dict.entries);
	}
	g_free(value);
}

/* A value can be freed, or added to a container, only if it is a root:
 * built, or the root of a parsed tree (the node that holds the arena). */
static gboolean is_root(const NetBencode *value)
{
	return value->raw == NULL || value->arena != NULL;
}

/* Iterative, so that freeing a deep built tree cannot overflow the stack. */
void net_bencode_free(NetBencode *value)
{
	g_autoptr(GPtrArray) pending = NULL;

	if (value == NULL)
		return;
	g_return_if_fail(is_root(value));
	pending = g_ptr_array_new();
	g_ptr_array_add(pending, value);
	while (pending->len > 0)
		node_free(
			g_ptr_array_steal_index_fast(pending, pending->len - 1),
			pending);
}

/* Raw byte order, shorter first on a common prefix: BEP 3's key order. */
static int compare_keys(const guint8 *a, gsize a_len, const guint8 *b,
			gsize b_len)
{
	gsize common = MIN(a_len, b_len);
	int c = common > 0 ? memcmp(a, b, common) : 0;

	if (c != 0)
		return c;
	return (a_len > b_len) - (a_len < b_len);
}

/* Binary search: TRUE with @index at the entry when @key is present,
 * FALSE with @index where it would be inserted. */
static gboolean dict_find(const NetBencode *dict, const guint8 *key,
			  gsize key_len, gsize *index)
{
	gsize lo = 0, hi = dict->dict.len;

	while (lo < hi) {
		gsize mid = lo + (hi - lo) / 2;
		const NetBencodeEntry *e = &dict->dict.entries[mid];
		int c = compare_keys(e->key, e->key_len, key, key_len);

		if (c == 0) {
			*index = mid;
			return TRUE;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*index = lo;
	return FALSE;
}

/* ---- Parsing ---- */

typedef struct {
	NetBencode *container;
	gsize base; /* where its children start in Parser.scratch */
} OpenFrame;

typedef struct {
	const guint8 *data;
	gsize len; /* bytes available */
	gsize end; /* bytes the value may use: min(len, max_size) */
	gsize pos;
	gsize items;
	const NetBencodeLimits *limits;
	NetBencodeArena *arena;
	GArray *open; /* of OpenFrame, innermost last */
	/* Children of the open containers, as entries (a list's have no key),
	 * until the container closes and they move into the arena. */
	GArray *scratch;
	NetBencode *root;
	GError **error;
} Parser;

G_GNUC_PRINTF(4, 5)
static gboolean fail(Parser *p, gsize at, NetErrorCode code, const char *fmt,
		     ...)
{
	g_autofree char *rule = NULL;
	va_list args;

	va_start(args, fmt);
	rule = g_strdup_vprintf(fmt, args);
	va_end(args);
	g_set_error(p->error, NET_ERROR, code,
		    "bencode: byte %" G_GSIZE_FORMAT ": %s", at, rule);
	return FALSE;
}

/* The input ran out: either the caller must feed more bytes, or the value
 * has already grown past max_size and more bytes will not help. */
static gboolean fail_short(Parser *p)
{
	if (p->end < p->len)
		return fail(p, p->end, NET_ERROR_LIMIT,
			    "value is longer than the %" G_GSIZE_FORMAT
			    "-byte limit",
			    p->limits->max_size);
	return fail(p, p->len, NET_ERROR_TRUNCATED,
		    "input ends inside a value");
}

/* Appends decimal digit @digit to @n unless that would exceed @max. */
static gboolean add_digit(guint64 *n, guint8 digit, guint64 max)
{
	unsigned d = digit - '0';

	if (d > max || *n > (max - d) / 10)
		return FALSE;
	*n = *n * 10 + d;
	return TRUE;
}

/* Scans the digits at p->pos; a leading zero is allowed only as the whole
 * number. Leaves p->pos on the first byte that is not a digit. */
static gboolean scan_digits(Parser *p, guint64 *n, guint64 max,
			    const char *what)
{
	gsize start = p->pos;

	*n = 0;
	for (; p->pos < p->end && g_ascii_isdigit(p->data[p->pos]); p->pos++) {
		if (p->pos > start && p->data[start] == '0')
			return fail(p, p->pos, NET_ERROR_BENCODE,
				    "%s has a leading zero", what);
		if (!add_digit(n, p->data[p->pos], max))
			return fail(
				p, start, NET_ERROR_LIMIT,
				"%s is over the limit of %" G_GUINT64_FORMAT,
				what, max);
	}
	if (p->pos >= p->end)
		return fail_short(p);
	return TRUE;
}

static NetBencode *parsed_new(Parser *p, NetBencodeType type, const guint8 *raw)
{
	NetBencode *value = arena_alloc(p->arena, sizeof(*value));

	memset(value, 0, sizeof(*value));
	value->type = type;
	value->raw = raw;
	return value;
}

/* "i" ["-"] digits "e", no leading zero, no "-0", within gint64. */
static gboolean parse_int(Parser *p, NetBencode **out)
{
	const guint8 *raw = p->data + p->pos;
	gboolean negative;
	guint64 magnitude;
	gsize digits;

	p->pos++;
	negative = p->pos < p->end && p->data[p->pos] == '-';
	p->pos += negative;
	if (negative && p->pos < p->end && p->data[p->pos] == '0')
		return fail(p, p->pos - 1, NET_ERROR_BENCODE,
			    "integer is negative zero");
	digits = p->pos;
	if (!scan_digits(p, &magnitude, (guint64)G_MAXINT64 + negative,
			 "integer magnitude"))
		return FALSE;
	if (p->data[p->pos] != 'e' || p->pos == digits)
		return fail(p, p->pos, NET_ERROR_BENCODE,
			    "integer must be digits ended by 'e'");
	p->pos++;
	*out = parsed_new(p, NET_BENCODE_INT, raw);
	(*out)->raw_len = p->data + p->pos - raw;
	if (!negative)
		(*out)->integer = (gint64)magnitude;
	else if (magnitude > (guint64)G_MAXINT64)
		(*out)->integer = G_MININT64;
	else
		(*out)->integer = -(gint64)magnitude;
	return TRUE;
}

/* digits ":" bytes. The claimed length is checked against max_string and
 * against the bytes present before anything looks at the body. */
static gboolean scan_string(Parser *p, const guint8 **data, gsize *len)
{
	guint64 n;

	if (!scan_digits(p, &n, p->limits->max_string, "string length"))
		return FALSE;
	if (p->data[p->pos] != ':')
		return fail(p, p->pos, NET_ERROR_BENCODE,
			    "string length must be followed by ':'");
	p->pos++;
	if (n > p->end - p->pos) {
		p->pos = p->end;
		return fail_short(p);
	}
	*data = p->data + p->pos;
	*len = n;
	p->pos += n;
	return TRUE;
}

static gboolean parse_string(Parser *p, NetBencode **out)
{
	const guint8 *raw = p->data + p->pos;
	const guint8 *data;
	gsize len;

	if (!scan_string(p, &data, &len))
		return FALSE;
	*out = parsed_new(p, NET_BENCODE_STRING, raw);
	(*out)->raw_len = p->data + p->pos - raw;
	(*out)->string.data = data;
	(*out)->string.len = len;
	return TRUE;
}

static gboolean count_item(Parser *p)
{
	if (++p->items > p->limits->max_items)
		return fail(p, p->pos, NET_ERROR_LIMIT,
			    "more than %" G_GSIZE_FORMAT " values",
			    p->limits->max_items);
	return TRUE;
}

/* Parses a scalar or opens a container at p->pos. */
static gboolean parse_value(Parser *p, NetBencode **out)
{
	guint8 c = p->data[p->pos];

	if (!count_item(p))
		return FALSE;
	if (c == 'i')
		return parse_int(p, out);
	if (g_ascii_isdigit(c))
		return parse_string(p, out);
	if (c != 'l' && c != 'd')
		return fail(p, p->pos, NET_ERROR_BENCODE,
			    "byte 0x%02x cannot start a value", c);
	if (p->open->len >= p->limits->max_depth)
		return fail(p, p->pos, NET_ERROR_LIMIT,
			    "lists and dicts nest deeper than %u",
			    p->limits->max_depth);
	*out = parsed_new(p, c == 'l' ? NET_BENCODE_LIST : NET_BENCODE_DICT,
			  p->data + p->pos++);
	return TRUE;
}

/* The newest child of the innermost container, NULL if it has none. */
static NetBencodeEntry *last_child(Parser *p, const OpenFrame *frame)
{
	if (p->scratch->len == frame->base)
		return NULL;
	return &g_array_index(p->scratch, NetBencodeEntry, p->scratch->len - 1);
}

static gboolean parse_key(Parser *p, const OpenFrame *frame)
{
	gsize at = p->pos;
	NetBencodeEntry *prev = last_child(p, frame);
	NetBencodeEntry entry = {0};
	int order;

	if (!g_ascii_isdigit(p->data[p->pos]))
		return fail(p, at, NET_ERROR_BENCODE,
			    "dict key is not a string");
	if (!count_item(p) || !scan_string(p, &entry.key, &entry.key_len))
		return FALSE;
	order = prev == NULL ? 1
			     : compare_keys(entry.key, entry.key_len, prev->key,
					    prev->key_len);
	if (order == 0)
		return fail(p, at, NET_ERROR_BENCODE, "duplicate dict key");
	if (order < 0)
		return fail(p, at, NET_ERROR_BENCODE, "dict keys out of order");
	g_array_append_val(p->scratch, entry);
	return TRUE;
}

/* Moves the children from scratch into the arena, at their exact size. */
static void close_container(Parser *p, const OpenFrame *frame)
{
	NetBencode *c = frame->container;
	gsize base = frame->base; /* @frame goes with the pop below */
	gsize n = p->scratch->len - base;
	NetBencodeEntry *children;

	p->pos++;
	c->raw_len = p->data + p->pos - c->raw;
	g_array_set_size(p->open, p->open->len - 1);
	if (n == 0)
		return; /* an empty container keeps NULL and 0 */
	children = &g_array_index(p->scratch, NetBencodeEntry, base);
	if (c->type == NET_BENCODE_LIST) {
		c->list.items = arena_alloc(p->arena, n * sizeof(NetBencode *));
		for (gsize i = 0; i < n; i++)
			c->list.items[i] = children[i].value;
		c->list.len = n;
	} else {
		c->dict.entries = arena_alloc(p->arena, n * sizeof(*children));
		memcpy(c->dict.entries, children, n * sizeof(*children));
		c->dict.len = n;
	}
	g_array_set_size(p->scratch, base);
}

/* Puts @value in the innermost open container, or makes it the root. */
static void attach(Parser *p, NetBencode *value)
{
	OpenFrame *frame = NULL;
	NetBencodeEntry child = {.value = value};

	if (p->open->len == 0)
		p->root = value;
	else
		frame = &g_array_index(p->open, OpenFrame, p->open->len - 1);
	if (frame != NULL && frame->container->type == NET_BENCODE_LIST)
		g_array_append_val(p->scratch, child);
	else if (frame != NULL)
		last_child(p, frame)->value = value;
	if (value->type == NET_BENCODE_LIST ||
	    value->type == NET_BENCODE_DICT) {
		OpenFrame opened = {value, p->scratch->len};

		g_array_append_val(p->open, opened);
	}
}

/* One token: a close, a dict key, or a value (scalar or opening). */
static gboolean parse_step(Parser *p)
{
	const OpenFrame *frame = NULL;
	NetBencodeEntry *last;
	NetBencode *value = NULL;

	if (p->pos >= p->end)
		return fail_short(p);
	if (p->open->len > 0)
		frame = &g_array_index(p->open, OpenFrame, p->open->len - 1);
	if (frame != NULL && frame->container->type == NET_BENCODE_DICT) {
		last = last_child(p, frame);
		if (last != NULL && last->value == NULL) {
			if (p->data[p->pos] == 'e')
				return fail(p, p->pos, NET_ERROR_BENCODE,
					    "dict key has no value");
		} else if (p->data[p->pos] != 'e') {
			return parse_key(p, frame);
		}
	}
	if (frame != NULL && p->data[p->pos] == 'e') {
		close_container(p, frame);
		return TRUE;
	}
	if (!parse_value(p, &value))
		return FALSE;
	attach(p, value);
	return TRUE;
}

static NetBencode *parse_one(GBytes *data, gsize max_len,
			     const NetBencodeLimits *limits, gsize *consumed,
			     GError **error)
{
	g_autoptr(GArray) open = g_array_new(FALSE, FALSE, sizeof(OpenFrame));
	g_autoptr(GArray) scratch =
		g_array_new(FALSE, FALSE, sizeof(NetBencodeEntry));
	Parser p = {.limits = limits,
		    .open = open,
		    .scratch = scratch,
		    .error = error};

	p.data = g_bytes_get_data(data, &p.len);
	p.end = MIN(p.len, max_len);
	p.arena = arena_new(data);
	do {
		if (!parse_step(&p)) {
			arena_free(p.arena);
			return NULL;
		}
	} while (open->len > 0);
	p.root->arena = p.arena;
	*consumed = p.pos;
	return p.root;
}

static gboolean check_size(gsize len, const NetBencodeLimits *limits,
			   GError **error)
{
	if (len <= limits->max_size)
		return TRUE;
	g_set_error(error, NET_ERROR, NET_ERROR_LIMIT,
		    "bencode: byte %" G_GSIZE_FORMAT
		    ": input is longer than the %" G_GSIZE_FORMAT "-byte limit",
		    limits->max_size, limits->max_size);
	return FALSE;
}

NetBencode *net_bencode_parse_prefix(GBytes *data,
				     const NetBencodeLimits *limits,
				     gsize *consumed, GError **error)
{
	g_return_val_if_fail(data != NULL, NULL);
	g_return_val_if_fail(consumed != NULL, NULL);

	*consumed = 0;
	if (limits == NULL)
		limits = &net_bencode_limits_default;
	return parse_one(data, limits->max_size, limits, consumed, error);
}

NetBencode *net_bencode_parse(GBytes *data, const NetBencodeLimits *limits,
			      GError **error)
{
	g_autoptr(NetBencode) value = NULL;
	gsize consumed;
	gsize len;

	g_return_val_if_fail(data != NULL, NULL);

	if (limits == NULL)
		limits = &net_bencode_limits_default;
	len = g_bytes_get_size(data);
	if (!check_size(len, limits, error))
		return NULL;
	value = parse_one(data, len, limits, &consumed, error);
	if (value != NULL && consumed != len) {
		g_set_error(error, NET_ERROR, NET_ERROR_BENCODE,
			    "bencode: byte %" G_GSIZE_FORMAT
			    ": trailing bytes after the value",
			    consumed);
		return NULL;
	}
	return g_steal_pointer(&value);
}

NetBencode *net_bencode_parse_data(const void *data, gsize len,
				   const NetBencodeLimits *limits,
				   GError **error)
{
	g_autoptr(GBytes) bytes = NULL;

	if (limits == NULL)
		limits = &net_bencode_limits_default;
	/* Refuse before copying: the copy would be the large allocation. */
	if (!check_size(len, limits, error))
		return NULL;
	bytes = g_bytes_new(data, len);
	return net_bencode_parse(bytes, limits, error);
}

/* ---- Accessors ---- */

NetBencodeType net_bencode_get_type(const NetBencode *value)
{
	return value->type;
}

const guint8 *net_bencode_get_raw(const NetBencode *value, gsize *len)
{
	*len = value->raw_len;
	return value->raw;
}

gboolean net_bencode_get_int(const NetBencode *value, gint64 *out)
{
	if (value == NULL || value->type != NET_BENCODE_INT)
		return FALSE;
	*out = value->integer;
	return TRUE;
}

const guint8 *net_bencode_get_string(const NetBencode *value, gsize *len)
{
	if (value == NULL || value->type != NET_BENCODE_STRING)
		return NULL;
	*len = value->string.len;
	return value->string.data;
}

char *net_bencode_dup_utf8(const NetBencode *value)
{
	const guint8 *data;
	gsize len;

	data = net_bencode_get_string(value, &len);
	/* With an explicit length, GLib counts a NUL byte as invalid. */
	if (data == NULL || !g_utf8_validate_len((const char *)data, len, NULL))
		return NULL;
	return g_strndup((const char *)data, len);
}

gsize net_bencode_list_length(const NetBencode *list)
{
	if (list == NULL || list->type != NET_BENCODE_LIST)
		return 0;
	return list->list.len;
}

NetBencode *net_bencode_list_nth(const NetBencode *list, gsize i)
{
	if (i >= net_bencode_list_length(list))
		return NULL;
	return list->list.items[i];
}

gsize net_bencode_dict_size(const NetBencode *dict)
{
	if (dict == NULL || dict->type != NET_BENCODE_DICT)
		return 0;
	return dict->dict.len;
}

NetBencode *net_bencode_dict_nth(const NetBencode *dict, gsize i,
				 const guint8 **key, gsize *key_len)
{
	const NetBencodeEntry *e;

	if (i >= net_bencode_dict_size(dict))
		return NULL;
	e = &dict->dict.entries[i];
	if (key != NULL)
		*key = e->key;
	if (key_len != NULL)
		*key_len = e->key_len;
	return e->value;
}

NetBencode *net_bencode_dict_lookup(const NetBencode *dict, const char *key)
{
	gsize i;

	g_return_val_if_fail(key != NULL, NULL);

	if (net_bencode_dict_size(dict) == 0 ||
	    !dict_find(dict, (const guint8 *)key, strlen(key), &i))
		return NULL;
	return dict->dict.entries[i].value;
}

/* ---- Building ---- */

NetBencode *net_bencode_new_int(gint64 v)
{
	NetBencode *value = built_new(NET_BENCODE_INT);

	value->integer = v;
	return value;
}

NetBencode *net_bencode_new_string(const void *data, gsize len)
{
	NetBencode *value = built_new(NET_BENCODE_STRING);
	guint8 *copy = g_malloc(len + 1);

	/* The NUL keeps data non-NULL even for "", and eases debugging. */
	if (len > 0)
		memcpy(copy, data, len);
	copy[len] = '\0';
	value->string.data = copy;
	value->string.len = len;
	return value;
}

NetBencode *net_bencode_new_str(const char *s)
{
	return net_bencode_new_string(s, strlen(s));
}

NetBencode *net_bencode_new_list(void)
{
	return built_new(NET_BENCODE_LIST);
}

NetBencode *net_bencode_new_dict(void)
{
	return built_new(NET_BENCODE_DICT);
}

/* Makes room for one more element in a built container's array. */
static gpointer grow(gpointer array, gsize len, gsize *cap, gsize size)
{
	if (len < *cap)
		return array;
	*cap = MAX(4, *cap * 2);
	return g_realloc_n(array, *cap, size);
}

void net_bencode_list_append(NetBencode *list, NetBencode *item)
{
	g_return_if_fail(list != NULL && list->type == NET_BENCODE_LIST);
	g_return_if_fail(list->raw == NULL);
	g_return_if_fail(item != NULL && is_root(item));

	list->list.items = grow(list->list.items, list->list.len,
				&list->list.cap, sizeof(NetBencode *));
	list->list.items[list->list.len++] = item;
}

void net_bencode_dict_insert(NetBencode *dict, const char *key,
			     NetBencode *item)
{
	NetBencodeEntry *entries;
	gsize len;
	gsize i;

	g_return_if_fail(dict != NULL && dict->type == NET_BENCODE_DICT);
	g_return_if_fail(dict->raw == NULL);
	g_return_if_fail(key != NULL);
	g_return_if_fail(item != NULL && is_root(item));

	len = strlen(key);
	if (dict_find(dict, (const guint8 *)key, len, &i)) {
		net_bencode_free(dict->dict.entries[i].value);
		dict->dict.entries[i].value = item;
		return;
	}
	entries = grow(dict->dict.entries, dict->dict.len, &dict->dict.cap,
		       sizeof(NetBencodeEntry));
	memmove(&entries[i + 1], &entries[i],
		(dict->dict.len - i) * sizeof(NetBencodeEntry));
	entries[i] = (NetBencodeEntry){(const guint8 *)g_strndup(key, len), len,
				       item};
	dict->dict.entries = entries;
	dict->dict.len++;
}

/* ---- Emitting ---- */

void net_bencode_emit_int(GByteArray *out, gint64 v)
{
	char buf[24];
	int n = g_snprintf(buf, sizeof(buf), "i%" G_GINT64_FORMAT "e", v);

	g_byte_array_append(out, (const guint8 *)buf, n);
}

void net_bencode_emit_string(GByteArray *out, const void *data, gsize len)
{
	char buf[24];
	int n = g_snprintf(buf, sizeof(buf), "%" G_GSIZE_FORMAT ":", len);

	g_byte_array_append(out, (const guint8 *)buf, n);
	if (len > 0)
		g_byte_array_append(out, data, len);
}

void net_bencode_emit_str(GByteArray *out, const char *s)
{
	net_bencode_emit_string(out, s, strlen(s));
}

void net_bencode_emit_list_begin(GByteArray *out)
{
	g_byte_array_append(out, (const guint8 *)"l", 1);
}

void net_bencode_emit_dict_begin(GByteArray *out)
{
	g_byte_array_append(out, (const guint8 *)"d", 1);
}

void net_bencode_emit_end(GByteArray *out)
{
	g_byte_array_append(out, (const guint8 *)"e", 1);
}

typedef struct {
	const NetBencode *container;
	gsize next; /* index of the next child to write */
} EncodeFrame;

/* Writes a scalar whole, or opens a container and pushes it on @stack. */
static void encode_start(const NetBencode *value, GByteArray *out,
			 GArray *stack)
{
	EncodeFrame frame = {value, 0};

	switch (value->type) {
	case NET_BENCODE_INT:
		net_bencode_emit_int(out, value->integer);
		return;
	case NET_BENCODE_STRING:
		net_bencode_emit_string(out, value->string.data,
					value->string.len);
		return;
	case NET_BENCODE_LIST:
		net_bencode_emit_list_begin(out);
		break;
	case NET_BENCODE_DICT:
		net_bencode_emit_dict_begin(out);
		break;
	}
	g_array_append_val(stack, frame);
}

/* Iterative for the same reason as net_bencode_free. Built dicts are kept
 * sorted on insert and parsed ones were checked, so entry order is
 * canonical order. */
void net_bencode_encode_to(const NetBencode *value, GByteArray *out)
{
	g_autoptr(GArray) stack =
		g_array_new(FALSE, FALSE, sizeof(EncodeFrame));

	encode_start(value, out, stack);
	while (stack->len > 0) {
		EncodeFrame *top =
			&g_array_index(stack, EncodeFrame, stack->len - 1);
		const NetBencode *c = top->container;
		gsize i = top->next++;
		const NetBencodeEntry *e;

		if (c->type == NET_BENCODE_LIST && i < c->list.len) {
			encode_start(c->list.items[i], out, stack);
		} else if (c->type == NET_BENCODE_DICT && i < c->dict.len) {
			e = &c->dict.entries[i];
			net_bencode_emit_string(out, e->key, e->key_len);
			encode_start(e->value, out, stack);
		} else {
			net_bencode_emit_end(out);
			g_array_set_size(stack, stack->len - 1);
		}
	}
}

GBytes *net_bencode_encode(const NetBencode *value)
{
	GByteArray *out = g_byte_array_new();

	net_bencode_encode_to(value, out);
	return g_byte_array_free_to_bytes(out);
}
