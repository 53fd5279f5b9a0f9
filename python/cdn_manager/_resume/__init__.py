"""What outlives a process: the journal of a resumable upload, the files an
interrupted download keeps, multipart uploads still to abort, and the cache
folder that holds them."""
