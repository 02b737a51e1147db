"""Site events at the hub: inbox, contiguous sequences, gap repair, the hub copies."""
