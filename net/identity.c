/* identity: to be written. */
