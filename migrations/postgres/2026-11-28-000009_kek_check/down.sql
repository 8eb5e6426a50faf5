DROP TABLE kek_check;
