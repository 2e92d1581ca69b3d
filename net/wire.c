/* wire: to be written. */
