-- The audit trail as a Merkle tree log (RFC 6962): the hash of every complete subtree, by
-- level (0: leaves) and index, so that inclusion and consistency proofs are read without the
-- events; and the tree's size and root beside the chain head. Existing events are added as
-- leaves, in order, when the store migrates (Store.Migrate).
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  TEXT NOT NULL,
    PRIMARY KEY (level, idx)
);
ALTER TABLE audit_head ADD COLUMN tree_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_head ADD COLUMN tree_root TEXT NOT NULL DEFAULT '';
