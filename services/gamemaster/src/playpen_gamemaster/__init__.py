"""Playpen game master: plays clembench-style dialogue games against policy servers and scores them."""
