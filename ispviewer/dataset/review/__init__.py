"""Dataset-wide review (Qt-free): queues across triplets, saved positions, audit estimates,
shards for a team, and merging decisions from another copy of the dataset."""
