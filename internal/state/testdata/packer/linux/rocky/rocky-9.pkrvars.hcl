# test fixture: var file for rocky-9
