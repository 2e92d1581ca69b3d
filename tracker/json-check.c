#include "json-check.h"

#include <string.h>

#include "tracker-error.h"

typedef struct {
	const char *p;
	const char *end;
	const char *start;
	const char *problem; /* the first rule broken, or NULL */
} Scanner;

static gboolean bad(Scanner *s, const char *problem)
{
	if (!s->problem)
		s->problem = problem;
	return FALSE;
}

static void skip_space(Scanner *s)
{
	while (s->p < s->end && strchr(" \t\r\n", *s->p) && *s->p)
		s->p++;
}

static gboolean eat(Scanner *s, char c)
{
	skip_space(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return TRUE;
	}
	return FALSE;
}

static gboolean literal(Scanner *s, const char *word)
{
	gsize len = strlen(word);

	if ((gsize)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
		return bad(s, "an unknown word");
	s->p += len;
	return TRUE;
}

static gboolean digits(Scanner *s)
{
	const char *from = s->p;

	while (s->p < s->end && g_ascii_isdigit(*s->p))
		s->p++;
	return s->p > from || bad(s, "a malformed number");
}

static gboolean number(Scanner *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!digits(s))
		return FALSE;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return FALSE;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		return digits(s);
	}
	return TRUE;
}

static gboolean escape(Scanner *s)
{
	if (s->p >= s->end)
		return bad(s, "an unterminated string");
	if (strchr("\"\\/bfnrt", *s->p) && *s->p) {
		s->p++;
		return TRUE;
	}
	if (*s->p != 'u' || s->end - s->p < 5)
		return bad(s, "a bad escape in a string");
	for (int i = 1; i <= 4; i++)
		if (!g_ascii_isxdigit(s->p[i]))
			return bad(s, "a bad \\u escape in a string");
	if (memcmp(s->p + 1, "0000", 4) == 0)
		return bad(s, "a NUL character in a string");
	s->p += 5;
	return TRUE;
}

/* A string; its raw bytes between the quotes go to @raw/@raw_len. */
static gboolean string(Scanner *s, const char **raw, gsize *raw_len)
{
	const char *from;

	if (!eat(s, '"'))
		return bad(s, "a string expected");
	from = s->p;
	while (s->p < s->end && *s->p != '"') {
		guchar c = *s->p++;

		if (c < 0x20)
			return bad(s, "a control character in a string");
		if (c == '\\' && !escape(s))
			return FALSE;
	}
	if (s->p >= s->end)
		return bad(s, "an unterminated string");
	*raw = from;
	*raw_len = s->p - from;
	s->p++;
	return TRUE;
}

static gboolean value(Scanner *s, guint depth);

static gboolean array(Scanner *s, guint depth)
{
	if (eat(s, ']'))
		return TRUE;
	do {
		if (!value(s, depth))
			return FALSE;
	} while (eat(s, ','));
	return eat(s, ']') || bad(s, "a ',' or ']' expected");
}

/* Keys are compared as written: two spellings of one key (an escape
 * and its character) both pass, and json-glib then keeps one; the
 * field check that follows still sees only known names. */
static gboolean object(Scanner *s, guint depth)
{
	g_autoptr(GHashTable) keys = NULL;

	if (eat(s, '}'))
		return TRUE;
	keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	do {
		const char *key;
		gsize key_len;

		if (!string(s, &key, &key_len))
			return FALSE;
		if (!g_hash_table_add(keys, g_strndup(key, key_len)))
			return bad(s, "a repeated key in an object");
		if (!eat(s, ':'))
			return bad(s, "a ':' expected");
		if (!value(s, depth))
			return FALSE;
	} while (eat(s, ','));
	return eat(s, '}') || bad(s, "a ',' or '}' expected");
}

static gboolean value(Scanner *s, guint depth)
{
	const char *raw;
	gsize raw_len;

	skip_space(s);
	if (s->p >= s->end)
		return bad(s, "a value expected");
	/* @depth containers are open around this value. */
	if ((*s->p == '{' || *s->p == '[') && depth >= TRACKER_JSON_MAX_DEPTH)
		return bad(s, "nesting too deep");
	switch (*s->p) {
	case '{':
		s->p++;
		return object(s, depth + 1);
	case '[':
		s->p++;
		return array(s, depth + 1);
	case '"':
		return string(s, &raw, &raw_len);
	case 't':
		return literal(s, "true");
	case 'f':
		return literal(s, "false");
	case 'n':
		return literal(s, "null");
	default:
		if (*s->p == '-' || g_ascii_isdigit(*s->p))
			return number(s);
		return bad(s, "a value expected");
	}
}

gboolean tracker_json_check(const char *text, gsize len, GError **error)
{
	Scanner s = {.p = text, .end = text + len, .start = text};

	if (!g_utf8_validate(text, len, NULL))
		bad(&s, "text that is not UTF-8");
	else if (value(&s, 0)) {
		skip_space(&s);
		if (s.p == s.end)
			return TRUE;
		bad(&s, "text after the value");
	}
	g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
		    "The request body is not strict JSON: %s at byte %td.",
		    s.problem, s.p - s.start);
	return FALSE;
}
