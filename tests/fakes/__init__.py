"""Local fakes of vendor control planes, each speaking the vendor's real protocol on 127.0.0.1."""
