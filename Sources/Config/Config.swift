// Config
