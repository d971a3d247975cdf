# Writes scripts/bench's import file: n account lines from account number `from` on, each with
# one of the bcrypt hashes in `hashes` (kind=hash) or a plain password (kind=plain), and a plain PIN.
BEGIN {
  count = split(hashes, h, " ")
  for (i = 0; i < n; i++) {
    number = from + i
    if (kind == "hash") {
      password = "{\"hash\":\"" h[i % count + 1] "\"}"
    } else {
      password = "{\"plain\":\"bench password " number "\"}"
    }
    printf "{\"account_number\":\"%d\",\"login_id\":\"user%d\",\"name\":\"顧客 %d\",\"email\":\"user%d@example.jp\",\"phones\":[\"+8190%08d\"],\"password\":%s,\"pin\":{\"plain\":\"%04d\"}}\n", \
      number, number, number, number, number % 100000000, password, number % 10000
  }
}
