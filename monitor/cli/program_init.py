"""`bidwatch init [DIR]`: write a new, commented compliance program from answers or flags."""
