"""The read stage: one file or object read once (`extract`, `fastread`, `ncobject`, `timeaxis`), every region cut from
that read (`grids`), and the header checks that open files (`headers`, `truncation`). Runs in the workers.
"""
