# test fixture: var file for ubuntu-22.04
