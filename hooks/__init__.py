"""One module per CDS hook; each exports SERVICE and handle()."""
