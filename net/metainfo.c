/* metainfo: to be written. */
