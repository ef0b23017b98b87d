"""What the gate reads: profiles found in the tree or at a base revision, and the repo config."""
