/* password: to be written. */
