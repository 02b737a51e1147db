"""The site's own database: customers, calls, legs, CDRs, agent sessions, outbox."""
