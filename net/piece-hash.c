/* piece-hash: to be written. */
