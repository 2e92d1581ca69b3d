/* tracker-api: to be written. */
