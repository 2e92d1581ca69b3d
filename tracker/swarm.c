/* swarm: to be written. */
