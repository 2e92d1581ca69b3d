/* ca: to be written. */
