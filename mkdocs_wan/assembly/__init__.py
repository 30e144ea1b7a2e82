"""One build: plans for each directive, the page engine, fetching and generating missing clips."""
