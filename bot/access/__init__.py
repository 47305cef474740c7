"""Who may do what: [[authz]] rules to a decision; the membership lookup is a port."""
