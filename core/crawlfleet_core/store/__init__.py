"""Where the platform's state lives in Redis: key names, job records and item
streams, and the measurement of queues for the autoscaler."""
