"""The plan: every output a run computes, the window years each needs and where they come from, what is up to date;
reads no data (`members` chooses the members, `build` the rest).
"""
