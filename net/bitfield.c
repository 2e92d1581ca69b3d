/* bitfield: to be written. */
