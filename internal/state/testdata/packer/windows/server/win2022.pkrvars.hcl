# test fixture: var file for win2022
