// Selection
