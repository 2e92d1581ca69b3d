/*
 * serve: what `groupfs serve` and `groupfs mount` share to start the
 * daemon: the logged-in identity and the engine's configuration from it
 * (cmd-serve.c).
 */
#pragma once

#include "daemon.h"
#include "session.h"

G_BEGIN_DECLS

typedef struct {
	CliSession *session;
	char *ca_file;
	char *cert_file;
	char *key_file;
} CliIdentity;

/* The logged-in session and its PEM files, or an error that says how to
 * log in. Makes no request. */
gboolean cli_identity_load(CliIdentity *id, GError **error);
void cli_identity_clear(CliIdentity *id);

/* The engine's configuration for @id with the daemon's @options; it
 * borrows from both. */
void cli_identity_engine_config(const CliIdentity *id,
				const FsDaemonOptions *options,
				NetEngineConfig *config);

/* A start that failed: tells the waiting parent (if detached) and
 * stderr; returns the exit status. */
int cli_daemon_start_failed(const GError *error);

G_END_DECLS
