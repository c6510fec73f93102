# test fixture
