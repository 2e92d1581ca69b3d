/*
 * cmd-account: register, login, logout, whoami.
 *
 * register and login are where trust starts: they settle which CA
 * vouches for the tracker (--ca-file, the CA remembered for that URL, or
 * the person's yes to its fingerprint) before a password is sent, and
 * remember it in the session folder only once the tracker has accepted
 * the request.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cli.h"
#include "identity.h"
#include "prompt.h"
#include "session.h"
#include "tracker-api.h"

/* A CA file is a certificate or a short chain. */
#define MAX_CA_FILE (1024 * 1024)
/* Where a CA that the person accepted waits until the tracker answers. */
#define PENDING_CA_FILE "ca.crt.pending"

typedef struct {
	char *tracker;
	char *ca_file;
	gboolean password_stdin;
	const char *user; /* borrowed from argv */
} AccountArgs;

/* The CA that register or login trusts for the tracker at @url. */
typedef struct {
	char *url; /* normalised */
	char *ca_pem;
	char *ca_path; /* the file that the TLS database reads */
	gboolean pending; /* ca_path is PENDING_CA_FILE, to be removed */
} Trust;

static void trust_free(Trust *trust)
{
	if (trust == NULL)
		return;
	if (trust->pending)
		g_unlink(trust->ca_path);
	g_free(trust->url);
	g_free(trust->ca_pem);
	g_free(trust->ca_path);
	g_free(trust);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Trust, trust_free)

static void account_args_clear(AccountArgs *args)
{
	g_clear_pointer(&args->tracker, g_free);
	g_clear_pointer(&args->ca_file, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AccountArgs, account_args_clear)

/* Parses "COMMAND --tracker URL [--ca-file FILE] [--password-stdin]
 * USER"; FALSE after a usage error, with the exit status in @status. */
static gboolean parse_account_args(int argc, char **argv, AccountArgs *args,
				   int *status)
{
	const GOptionEntry entries[] = {
		{"tracker", 0, 0, G_OPTION_ARG_STRING, &args->tracker,
		 "The tracker's URL, https://HOST:PORT", "URL"},
		{"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &args->ca_file,
		 "Trust the tracker's CA certificate in FILE", "FILE"},
		{"password-stdin", 0, 0, G_OPTION_ARG_NONE,
		 &args->password_stdin,
		 "Read the password from one line of standard input", NULL},
		{NULL},
	};
	g_autofree char *usage = g_strdup_printf(
		"%s --tracker URL [--ca-file FILE] [--password-stdin] USER",
		argv[0]);

	if (!cli_parse_args(&argc, &argv, usage, entries, 1, 1, status))
		return FALSE;
	args->user = argv[1];
	if (args->tracker == NULL) {
		*status = cli_usage_error("missing --tracker URL");
		return FALSE;
	}
	if (!args->password_stdin && !cli_prompt_is_interactive()) {
		*status = cli_usage_error(
			"no terminal to ask for the password on; pass it on "
			"standard input with --password-stdin");
		return FALSE;
	}
	return TRUE;
}

/* Trust in the CA file the person named. */
static gboolean trust_ca_file(Trust *trust, const char *ca_file, GError **error)
{
	g_autoptr(GTlsCertificate) certificate = NULL;
	gsize len;

	if (!g_file_get_contents(ca_file, &trust->ca_pem, &len, error))
		return FALSE;
	if (len > MAX_CA_FILE || strlen(trust->ca_pem) != len ||
	    (certificate = g_tls_certificate_new_from_pem(trust->ca_pem, -1,
							  NULL)) == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s holds no PEM certificate", ca_file);
		return FALSE;
	}
	trust->ca_path = g_strdup(ca_file);
	return TRUE;
}

/* Asks the person whether the CA that the tracker presents is the one
 * its operator announced. */
static gboolean trust_on_first_use(Trust *trust, GError **error)
{
	g_autofree char *fingerprint = NULL;

	trust->ca_pem = net_tracker_api_fetch_ca(trust->url, error);
	if (trust->ca_pem == NULL)
		return FALSE;
	fingerprint = net_identity_fingerprint(trust->ca_pem, error);
	if (fingerprint == NULL)
		return FALSE;
	fprintf(stderr,
		"The tracker at %s presents a certificate authority with "
		"the SHA-256 fingerprint\n  %s\nCompare it with the one its "
		"operator published.\n",
		trust->url, fingerprint);
	if (!cli_prompt_confirm("Trust this certificate authority?")) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
			    "the tracker's CA was not trusted; pass the "
			    "operator's CA certificate with --ca-file FILE");
		return FALSE;
	}
	trust->pending = TRUE;
	trust->ca_path = cli_session_path(PENDING_CA_FILE);
	return cli_session_write_file(PENDING_CA_FILE, trust->ca_pem, error);
}

/* The CA remembered with the session, when it belongs to the URL. */
static gboolean trust_remembered(Trust *trust, const CliSession *session)
{
	g_autofree char *path = cli_session_path(CLI_SESSION_CA_FILE);

	if (g_strcmp0(session->tracker, trust->url) != 0 ||
	    !g_file_get_contents(path, &trust->ca_pem, NULL, NULL))
		return FALSE;
	trust->ca_path = g_steal_pointer(&path);
	return TRUE;
}

static Trust *trust_resolve(const CliSession *session, const AccountArgs *args,
			    GError **error)
{
	g_autoptr(Trust) trust = g_new0(Trust, 1);

	trust->url = net_tracker_api_normalise_url(args->tracker, error);
	if (trust->url == NULL)
		return NULL;
	if (args->ca_file != NULL) {
		if (!trust_ca_file(trust, args->ca_file, error))
			return NULL;
	} else if (!trust_remembered(trust, session)) {
		if (!cli_prompt_is_interactive()) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
				    "no CA certificate is known for %s; pass "
				    "the tracker's CA with --ca-file FILE",
				    trust->url);
			return NULL;
		}
		if (!trust_on_first_use(trust, error))
			return NULL;
	}
	return g_steal_pointer(&trust);
}

/* Remembers the trusted CA as the session's, for the session's new
 * tracker. */
static gboolean trust_commit(const Trust *trust, CliSession *session,
			     GError **error)
{
	if (!cli_session_write_file(CLI_SESSION_CA_FILE, trust->ca_pem, error))
		return FALSE;
	if (g_strcmp0(session->tracker, trust->url) != 0) {
		cli_session_clear_login(session);
		g_clear_pointer(&session->user, g_free);
		g_free(session->tracker);
		session->tracker = g_strdup(trust->url);
	}
	return TRUE;
}

static CliSecret *ask_password(const AccountArgs *args, const char *url,
			       gboolean twice, GError **error)
{
	g_autofree char *prompt = NULL;
	g_autoptr(CliSecret) password = NULL;
	g_autoptr(CliSecret) again = NULL;

	if (args->password_stdin)
		return cli_read_password_stdin(error);
	prompt = g_strdup_printf("Password for %s at %s: ", args->user, url);
	password = cli_prompt_secret(prompt, error);
	if (password == NULL || !twice)
		return g_steal_pointer(&password);
	again = cli_prompt_secret("Repeat the password: ", error);
	if (again == NULL)
		return NULL;
	if (strcmp(password, again) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "the two passwords differ; nothing was changed");
		return NULL;
	}
	return g_steal_pointer(&password);
}

/* A session to start from: a damaged one is replaced by the login. */
static CliSession *load_or_new_session(void)
{
	CliSession *session = cli_session_load(NULL);

	return session != NULL ? session : g_new0(CliSession, 1);
}

/* Everything register and login share up to the request: arguments,
 * trust, a verified client, the password. */
typedef struct {
	AccountArgs args;
	CliSession *session;
	Trust *trust;
	NetTrackerApi *api;
	JsonObject *body; /* user and password */
} AccountRequest;

static void account_request_clear(AccountRequest *req)
{
	account_args_clear(&req->args);
	g_clear_pointer(&req->session, cli_session_free);
	g_clear_pointer(&req->trust, trust_free);
	g_clear_pointer(&req->api, net_tracker_api_free);
	g_clear_pointer(&req->body, json_object_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AccountRequest, account_request_clear)

static int account_request_prepare(AccountRequest *req, int argc, char **argv,
				   gboolean confirm_password)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(CliSecret) password = NULL;
	int status;

	if (!parse_account_args(argc, argv, &req->args, &status))
		return status;
	req->session = load_or_new_session();
	req->trust = trust_resolve(req->session, &req->args, &error);
	if (req->trust != NULL)
		req->api = net_tracker_api_new(req->trust->url,
					       req->trust->ca_path, &error);
	if (req->api != NULL)
		password = ask_password(&req->args, req->trust->url,
					confirm_password, &error);
	if (password == NULL)
		return cli_fail("%s", error->message);
	req->body = json_object_new();
	json_object_set_string_member(req->body, "user", req->args.user);
	json_object_set_string_member(req->body, "password", password);
	return CLI_EXIT_OK;
}

int cli_cmd_register(int argc, char **argv)
{
	g_auto(AccountRequest) req = {0};
	g_autoptr(JsonObject) reply = NULL;
	g_autoptr(GError) error = NULL;
	int status = account_request_prepare(&req, argc, argv, TRUE);

	if (status != CLI_EXIT_OK)
		return status;
	reply = net_tracker_api_call(req.api, "POST", "register", req.body,
				     &error);
	if (reply == NULL)
		return cli_fail("%s", error->message);
	/* Remember the CA for the login to come, unless that would drop a
	 * login at another tracker. */
	if (req.session->token == NULL ||
	    g_strcmp0(req.session->tracker, req.trust->url) == 0) {
		if (!trust_commit(req.trust, req.session, &error) ||
		    !cli_session_save(req.session, &error))
			return cli_fail("%s", error->message);
	}
	printf("registered %s at %s; now run 'groupfs login --tracker %s "
	       "%s'\n",
	       req.args.user, req.trust->url, req.trust->url, req.args.user);
	return CLI_EXIT_OK;
}

/* Sends the session's public key with the login, so that the reply
 * carries a certificate for it. */
static gboolean add_public_key(JsonObject *body, GError **error)
{
	g_autofree char *key_path = cli_session_path(CLI_SESSION_KEY_FILE);
	g_autofree char *public_key = NULL;

	if (!cli_session_make_dir(error))
		return FALSE;
	public_key = net_identity_ensure_key(key_path, error);
	if (public_key == NULL)
		return FALSE;
	json_object_set_string_member(body, "public_key", public_key);
	return TRUE;
}

/* Checks the certificate in @reply against the trusted CA and our key,
 * and saves it. */
static gboolean save_certificate(JsonObject *reply, const Trust *trust,
				 const char *user, GError **error)
{
	g_autofree char *key_path = cli_session_path(CLI_SESSION_KEY_FILE);
	g_autofree char *subject = NULL;
	const char *pem;

	pem = net_tracker_api_require_string(reply, "certificate", error);
	if (pem == NULL ||
	    !net_identity_check_certificate(pem, trust->ca_pem, key_path,
					    &subject, NULL, error))
		return FALSE;
	if (g_strcmp0(subject, user) != 0) {
		g_set_error(error, NET_TRACKER_API_ERROR,
			    NET_TRACKER_API_ERROR_PROTOCOL,
			    "the tracker signed a certificate for '%s', not "
			    "for '%s'",
			    subject, user);
		return FALSE;
	}
	return cli_session_write_file(CLI_SESSION_CERT_FILE, pem, error);
}

/* Stores the login that @reply grants in the session. */
static gboolean session_from_login(CliSession *session, JsonObject *reply,
				   GError **error)
{
	const char *user, *token, *passkey;
	gint64 expires;

	user = net_tracker_api_require_string(reply, "user", error);
	token = user ? net_tracker_api_require_string(reply, "token", error)
		     : NULL;
	passkey =
		token ? net_tracker_api_require_string(reply, "passkey", error)
		      : NULL;
	if (passkey == NULL)
		return FALSE;
	if (!net_tracker_api_get_int(reply, "expires", &expires)) {
		g_set_error(error, NET_TRACKER_API_ERROR,
			    NET_TRACKER_API_ERROR_PROTOCOL,
			    "the tracker's login reply has no expiry");
		return FALSE;
	}
	cli_session_clear_login(session);
	g_free(session->user);
	session->user = g_strdup(user);
	session->token = g_strdup(token);
	session->passkey = g_strdup(passkey);
	session->expires = expires;
	return TRUE;
}

static char *format_time(gint64 when)
{
	g_autoptr(GDateTime) time = g_date_time_new_from_unix_local(when);

	return time ? g_date_time_format(time, "%Y-%m-%d %H:%M")
		    : g_strdup("?");
}

int cli_cmd_login(int argc, char **argv)
{
	g_auto(AccountRequest) req = {0};
	g_autoptr(JsonObject) reply = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *until = NULL;
	int status = account_request_prepare(&req, argc, argv, FALSE);

	if (status != CLI_EXIT_OK)
		return status;
	if (!add_public_key(req.body, &error))
		return cli_fail("%s", error->message);
	reply = net_tracker_api_call(req.api, "POST", "login", req.body,
				     &error);
	if (reply == NULL ||
	    !save_certificate(reply, req.trust, req.args.user, &error) ||
	    !trust_commit(req.trust, req.session, &error) ||
	    !session_from_login(req.session, reply, &error) ||
	    !cli_session_save(req.session, &error))
		return cli_fail("%s", error->message);
	until = format_time(req.session->expires);
	printf("logged in as %s at %s until %s\n", req.session->user,
	       req.session->tracker, until);
	return CLI_EXIT_OK;
}

/* Asks the tracker to revoke the session's token. TRUE when it did, or
 * when the token was already dead (expired here, or refused there). */
static gboolean revoke_token(const CliSession *session, GError **error)
{
	g_autoptr(NetTrackerApi) api = NULL;
	g_autoptr(JsonObject) reply = NULL;
	g_autoptr(GError) local_error = NULL;

	if (!cli_session_is_logged_in(session,
				      g_get_real_time() / G_USEC_PER_SEC))
		return TRUE;
	api = cli_session_connect(session, &local_error);
	if (api != NULL)
		reply = net_tracker_api_call(api, "POST", "logout", NULL,
					     &local_error);
	if (reply != NULL ||
	    g_error_matches(local_error, NET_TRACKER_API_ERROR,
			    NET_TRACKER_API_ERROR_UNAUTHORIZED))
		return TRUE;
	g_propagate_error(error, g_steal_pointer(&local_error));
	return FALSE;
}

int cli_cmd_logout(int argc, char **argv)
{
	g_autoptr(CliSession) session = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) revoke_error = NULL;
	gboolean revoked;
	int status;

	if (!cli_parse_args(&argc, &argv, "logout", NULL, 0, 0, &status))
		return status;
	session = cli_session_load(&error);
	if (session == NULL)
		return cli_fail("%s", error->message);
	if (session->token == NULL)
		return cli_fail("not logged in");
	revoked = revoke_token(session, &revoke_error);
	/* Forget the token even when the tracker could not be told: logging
	 * out must never leave a usable token on this machine. */
	cli_session_clear_login(session);
	if (!cli_session_save(session, &error))
		return cli_fail("%s", error->message);
	if (!revoked)
		return cli_fail("logged out here, but the tracker did not "
				"revoke the token: %s",
				revoke_error->message);
	printf("logged out %s from %s\n", session->user, session->tracker);
	return CLI_EXIT_OK;
}

int cli_cmd_whoami(int argc, char **argv)
{
	g_autoptr(CliSession) session = NULL;
	g_autoptr(NetTrackerApi) api = NULL;
	g_autoptr(JsonObject) reply = NULL;
	g_autoptr(GError) error = NULL;
	const char *user = NULL;
	int status;

	if (!cli_parse_args(&argc, &argv, "whoami", NULL, 0, 0, &status))
		return status;
	session = cli_session_load(&error);
	if (session != NULL)
		api = cli_session_connect(session, &error);
	if (api != NULL)
		reply = net_tracker_api_call(api, "GET", "whoami", NULL,
					     &error);
	if (reply != NULL)
		user = net_tracker_api_require_string(reply, "user", &error);
	if (user == NULL) {
		if (session != NULL)
			cli_session_explain(session, error);
		return cli_fail("%s", error->message);
	}
	cli_print_row((const char *const[]){user, session->tracker, NULL});
	return CLI_EXIT_OK;
}
