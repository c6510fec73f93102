# test fixture: reached through the symlink packer/linux/outside; must be refused
