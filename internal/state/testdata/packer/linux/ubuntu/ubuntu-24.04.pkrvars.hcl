# test fixture: var file for ubuntu-24.04
