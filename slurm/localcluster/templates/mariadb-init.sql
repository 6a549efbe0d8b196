-- Run by mariadbd at every start (--init-file). A fresh cluster numbers its jobs from 1 again,
-- so the accounting database of an earlier instance must go: otherwise `sacct -j 1` would
-- also report the old job 1 and submitit could read a stale state.
DROP DATABASE IF EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1';
CREATE USER IF NOT EXISTS 'slurm'@'localhost';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_password';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$db_password';
GRANT ALL ON *.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON *.* TO 'slurm'@'localhost';
