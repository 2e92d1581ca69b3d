/*
 * app: the state of one running tracker that every request handler
 * shares. main.c builds it and owns every field; handlers borrow them.
 * All of it belongs to the main loop thread.
 */
#pragma once

#include "ca.h"
#include "tracker-config.h"
#include "db.h"
#include "ratelimit.h"
#include "swarm.h"
#include "workers.h"

typedef struct {
	const TrackerConfig *config;
	TrackerDb *db;
	TrackerCa *ca;
	TrackerSwarm *swarm;
	TrackerRatelimit *login_failures_by_user;
	TrackerRatelimit *login_failures_by_address;
	TrackerWorkers *password_workers; /* the hashes of register, login */
} TrackerApp;

/* docs/API.md: 5 failed logins per user name, 20 per address, in 5
 * minutes. */
#define TRACKER_LOGIN_FAILURES_PER_USER 5
#define TRACKER_LOGIN_FAILURES_PER_ADDRESS 20
#define TRACKER_LOGIN_WINDOW_SECONDS 300
