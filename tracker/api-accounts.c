/*
 * api-accounts: register, login, logout, whoami, the CA and client
 * certificates. Password hashing is slow on purpose, so register and
 * login hash in a worker thread while the main loop keeps serving.
 */
#include <openssl/rand.h>
#include <string.h>

#include "api.h"
#include "password.h"
#include "tracker-error.h"
#include "validate.h"

/* @n random bytes from OpenSSL's CSPRNG, as lowercase hex. */
static char *random_hex(gsize n, GError **error)
{
	g_autofree guint8 *bytes = g_malloc(n);

	if (RAND_bytes(bytes, (int)n) != 1) {
		g_set_error_literal(error, TRACKER_ERROR,
				    TRACKER_ERROR_INTERNAL,
				    "OpenSSL could not make random bytes.");
		return NULL;
	}
	return tracker_api_hex(bytes, n);
}

void tracker_api_ca(TrackerRequest *req)
{
	TrackerCa *ca = tracker_request_get_app(req)->ca;
	JsonBuilder *b = tracker_api_begin_object();

	tracker_api_add_string(b, "certificate",
			       tracker_ca_get_certificate_pem(ca));
	tracker_api_add_string(b, "fingerprint",
			       tracker_ca_get_fingerprint(ca));
	tracker_api_reply_object(req, 200, b);
}

/* --- Hashing in a worker thread --- */

typedef struct {
	char *password;
	char *record; /* in: the stored record (login); out: a new one */
	guint iterations;
	gboolean verified;
	char *user;
	char *public_key;
	gint64 user_id;
} PasswordJob;

static void password_job_free(PasswordJob *job)
{
	if (job->password)
		memset(job->password, 0, strlen(job->password));
	g_free(job->password);
	g_free(job->record);
	g_free(job->user);
	g_free(job->public_key);
	g_free(job);
}

static PasswordJob *password_job_new(TrackerRequest *req, const char *user,
				     const char *password)
{
	PasswordJob *job = g_new0(PasswordJob, 1);

	job->user = g_strdup(user);
	job->password = g_strdup(password);
	job->iterations =
		tracker_request_get_app(req)->config->password_iterations;
	return job;
}

/* Runs @thread_func on @job (taken) in a worker, then @done on the main
 * loop; the request is paused in between. BUSY, with Retry-After, when
 * the workers have as many hashes queued as they may. */
static gboolean run_password_job(TrackerRequest *req, PasswordJob *job,
				 GTaskThreadFunc thread_func,
				 GAsyncReadyCallback done, GError **error)
{
	TrackerApp *app = tracker_request_get_app(req);
	g_autoptr(GTask) task = g_task_new(NULL, NULL, done, req);

	g_task_set_task_data(task, job, (GDestroyNotify)password_job_free);
	if (!tracker_workers_run(app->password_workers, task, thread_func)) {
		tracker_request_set_header(req, "Retry-After", "1");
		g_set_error_literal(error, TRACKER_ERROR, TRACKER_ERROR_BUSY,
				    "The tracker is busy checking other "
				    "passwords; try again in a second.");
		return FALSE;
	}
	g_debug("hashing a password for %s", job->user);
	tracker_request_pause(req);
	return TRUE;
}

/* --- register --- */

static void hash_thread(GTask *task, gpointer source, gpointer data,
			GCancellable *cancellable)
{
	PasswordJob *job = data;
	GError *error = NULL;

	job->record =
		tracker_password_hash(job->password, job->iterations, &error);
	if (!job->record)
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

static gboolean create_user(TrackerApp *app, PasswordJob *job, GError **error)
{
	g_autofree char *passkey = random_hex(16, error);

	return passkey &&
	       tracker_db_user_create(app->db, job->user, job->record, passkey,
				      tracker_api_now(), error);
}

static void register_done(GObject *source, GAsyncResult *result, gpointer data)
{
	TrackerRequest *req = data;
	PasswordJob *job = g_task_get_task_data(G_TASK(result));
	GError *error = NULL;

	if (!g_task_propagate_boolean(G_TASK(result), &error) ||
	    !create_user(tracker_request_get_app(req), job, &error)) {
		tracker_api_fail(req, error);
	} else {
		JsonBuilder *b = tracker_api_begin_object();

		tracker_api_add_string(b, "user", job->user);
		tracker_api_reply_object(req, 201, b);
		g_message("registered user %s", job->user);
	}
	tracker_request_resume(req);
}

void tracker_api_register(TrackerRequest *req)
{
	TrackerField fields[] = {{"user"}, {"password"}};
	TrackerApp *app = tracker_request_get_app(req);
	GError *error = NULL;

	if (!tracker_request_read_fields(req, fields, G_N_ELEMENTS(fields),
					 &error) ||
	    !tracker_validate_name("user name", fields[0].value, &error) ||
	    !tracker_validate_password(fields[1].value, &error)) {
		tracker_api_fail(req, error);
		return;
	}
	/* Checked again at the insert; this spares a slow hash. */
	if (tracker_db_user_exists(app->db, fields[0].value, &error) || error) {
		if (!error)
			g_set_error(&error, TRACKER_ERROR,
				    TRACKER_ERROR_CONFLICT,
				    "The user name \"%s\" is taken; choose "
				    "another.",
				    fields[0].value);
		tracker_api_fail(req, error);
		return;
	}
	if (!run_password_job(
		    req,
		    password_job_new(req, fields[0].value, fields[1].value),
		    hash_thread, register_done, &error))
		tracker_api_fail(req, error);
}

/* --- login --- */

static void verify_thread(GTask *task, gpointer source, gpointer data,
			  GCancellable *cancellable)
{
	PasswordJob *job = data;
	gboolean needs_rehash = FALSE;
	g_autofree char *record = g_steal_pointer(&job->record);

	/* An unknown user costs one hash too, so that the time of the
	 * answer does not tell which user names exist. */
	if (!record) {
		g_free(tracker_password_hash(job->password, job->iterations,
					     NULL));
		job->verified = FALSE;
	} else {
		job->verified = tracker_password_verify(
			job->password, record, job->iterations, &needs_rehash);
	}
	if (job->verified && needs_rehash)
		job->record = tracker_password_hash(job->password,
						    job->iterations, NULL);
	g_task_return_boolean(task, TRUE);
}

static gboolean add_certificate(TrackerApp *app, const char *user,
				const char *public_key, JsonBuilder *b,
				GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *pem = NULL;
	gint64 not_after = 0;

	pem = tracker_ca_sign_user(app->ca, user, public_key,
				   app->config->certificate_lifetime,
				   &not_after, &local);
	if (!pem) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
			    "The public key cannot be certified (%s); send "
			    "a PEM EC P-256 or Ed25519 public key.",
			    local->message);
		return FALSE;
	}
	tracker_api_add_string(b, "certificate", pem);
	tracker_api_add_int(b, "certificate_expires", not_after);
	return TRUE;
}

/* Makes a token for @job's user and stores its hash. */
static char *issue_token(TrackerApp *app, PasswordJob *job, gint64 expires,
			 GError **error)
{
	g_autofree char *token = random_hex(32, error);
	guint8 hash[32];

	if (!token)
		return NULL;
	tracker_http_hash_token(token, hash);
	if (!tracker_db_token_add(app->db, hash, job->user_id, expires, error))
		return NULL;
	return g_steal_pointer(&token);
}

static gboolean reply_login(TrackerRequest *req, PasswordJob *job,
			    GError **error)
{
	TrackerApp *app = tracker_request_get_app(req);
	g_autoptr(JsonBuilder) b = tracker_api_begin_object();
	gint64 expires = tracker_api_now() + app->config->token_lifetime;
	g_autofree char *passkey = NULL;
	g_autofree char *token = NULL;

	if (job->public_key &&
	    !add_certificate(app, job->user, job->public_key, b, error))
		return FALSE;
	if (job->record && !tracker_db_user_set_password(app->db, job->user_id,
							 job->record, error))
		return FALSE;
	passkey = tracker_db_user_get_passkey(app->db, job->user_id, error);
	token = passkey ? issue_token(app, job, expires, error) : NULL;
	if (!token)
		return FALSE;
	tracker_api_add_string(b, "user", job->user);
	tracker_api_add_string(b, "token", token);
	tracker_api_add_int(b, "expires", expires);
	tracker_api_add_string(b, "passkey", passkey);
	tracker_api_add_string(b, "ca_certificate",
			       tracker_ca_get_certificate_pem(app->ca));
	tracker_api_reply_object(req, 200, g_steal_pointer(&b));
	return TRUE;
}

static void login_done(GObject *source, GAsyncResult *result, gpointer data)
{
	TrackerRequest *req = data;
	TrackerApp *app = tracker_request_get_app(req);
	PasswordJob *job = g_task_get_task_data(G_TASK(result));
	GError *error = NULL;

	if (!job->verified) {
		tracker_ratelimit_add(app->login_failures_by_address,
				      tracker_request_get_address(req),
				      tracker_api_now());
		g_message("failed login for user %s from %s", job->user,
			  tracker_request_get_address(req));
		g_set_error_literal(&error, TRACKER_ERROR,
				    TRACKER_ERROR_UNAUTHORIZED,
				    "Wrong user name or password.");
		tracker_api_fail(req, error);
	} else {
		tracker_ratelimit_clear(app->login_failures_by_user, job->user);
		if (!reply_login(req, job, &error))
			tracker_api_fail(req, error);
	}
	tracker_request_resume(req);
}

/* 429 with Retry-After when @key has failed too often. */
static gboolean check_rate(TrackerRequest *req, TrackerRatelimit *rl,
			   const char *key, gint64 now, GError **error)
{
	guint retry_after = 0;
	char value[16];

	if (tracker_ratelimit_check(rl, key, now, &retry_after))
		return TRUE;
	g_snprintf(value, sizeof(value), "%u", retry_after);
	tracker_request_set_header(req, "Retry-After", value);
	g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_RATE_LIMITED,
		    "Too many failed logins; try again in %u seconds.",
		    retry_after);
	return FALSE;
}

void tracker_api_login(TrackerRequest *req)
{
	TrackerField fields[] = {{"user"}, {"password"}, {"public_key", TRUE}};
	TrackerApp *app = tracker_request_get_app(req);
	gint64 now = tracker_api_now();
	GError *error = NULL;
	g_autofree char *user = NULL;
	PasswordJob *job;

	if (!tracker_request_read_fields(req, fields, G_N_ELEMENTS(fields),
					 &error) ||
	    !tracker_validate_name("user name", fields[0].value, &error) ||
	    !tracker_validate_password(fields[1].value, &error) ||
	    !check_rate(req, app->login_failures_by_user, fields[0].value, now,
			&error) ||
	    !check_rate(req, app->login_failures_by_address,
			tracker_request_get_address(req), now, &error)) {
		tracker_api_fail(req, error);
		return;
	}
	job = password_job_new(req, fields[0].value, fields[1].value);
	job->public_key = g_strdup(fields[2].value);
	job->record = tracker_db_user_get_password(app->db, job->user,
						   &job->user_id, &error);
	if (error) {
		password_job_free(job);
		tracker_api_fail(req, error);
		return;
	}
	user = g_strdup(job->user);
	if (!run_password_job(req, job, verify_thread, login_done, &error)) {
		tracker_api_fail(req, error);
		return;
	}
	/* Counted before the verdict (which comes through the main loop,
	 * after this), and forgiven on success, so that parallel guesses
	 * cannot all slip in before the first failure is recorded. A
	 * "busy" answer is no guess: it is not counted. */
	tracker_ratelimit_add(app->login_failures_by_user, user, now);
}

/* --- Authenticated account endpoints --- */

void tracker_api_logout(TrackerRequest *req)
{
	TrackerApp *app = tracker_request_get_app(req);
	GError *error = NULL;

	if (!tracker_request_read_fields(req, NULL, 0, &error) ||
	    !tracker_db_token_remove(
		    app->db, tracker_request_get_token_hash(req), &error)) {
		tracker_api_fail(req, error);
		return;
	}
	tracker_request_reply_empty(req, 204);
}

void tracker_api_whoami(TrackerRequest *req)
{
	JsonBuilder *b = tracker_api_begin_object();

	tracker_api_add_string(b, "user", tracker_request_get_user(req));
	tracker_api_add_int(b, "expires",
			    tracker_request_get_token_expires(req));
	tracker_api_reply_object(req, 200, b);
}

void tracker_api_certificate(TrackerRequest *req)
{
	TrackerField fields[] = {{"public_key"}};
	TrackerApp *app = tracker_request_get_app(req);
	g_autoptr(JsonBuilder) b = tracker_api_begin_object();
	GError *error = NULL;

	if (!tracker_request_read_fields(req, fields, G_N_ELEMENTS(fields),
					 &error) ||
	    !add_certificate(app, tracker_request_get_user(req),
			     fields[0].value, b, &error)) {
		tracker_api_fail(req, error);
		return;
	}
	tracker_api_add_string(b, "ca_certificate",
			       tracker_ca_get_certificate_pem(app->ca));
	tracker_api_reply_object(req, 200, g_steal_pointer(&b));
}
