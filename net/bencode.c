/* bencode: to be written. */
