"""The district's value tables: names, home counties, age pyramids, hospitals, hotels and
the other lists the simulated people and services draw from."""

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
            "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严")
GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宁健浩宇俊帆晨阳凯峰亮建国志文博翔睿轩泽宏海林"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞燕玲婷雪慧琳颖佳欣怡悦萍红梅琴蕾倩月秀英兰洁瑶涵馨梦晶丹雯璐"
NAMES_PER_SEX = 4096

# ID address codes of registered residents born outside the district, and of floating
# residents (the counties floating people in Minhang mostly come from).
SHANGHAI_COUNTIES = (310101, 310104, 310105, 310106, 310107, 310109, 310110, 310113,
                     310115, 310116, 310117, 310118, 310120, 310151)
HOME_COUNTIES = (340123, 341221, 340826, 340321, 320382, 321323, 412726, 411527, 411424,
                 510322, 511321, 513922, 362330, 420982, 421127, 371321, 330327, 500235,
                 430621, 350583, 522422, 130625, 610524, 450881)
HOME_WEIGHTS = (9, 8, 7, 5, 6, 5, 8, 6, 4, 6, 5, 3, 5, 4, 3, 3, 3, 4, 3, 2, 3, 2, 2, 2)

# 5-year age groups 0-4 ... 95-99 on the first as-of date.
REGISTERED_AGES = (3.2, 3.6, 3.4, 3.3, 4.2, 6.0, 7.4, 8.0, 7.6, 7.0, 7.4, 8.3, 8.6, 7.8,
                   6.0, 4.0, 2.6, 1.6, 0.7, 0.2)
FLOATING_AGES = (3.0, 2.4, 1.8, 2.6, 9.0, 16.0, 17.0, 13.5, 10.5, 8.0, 6.0, 4.3, 2.6, 1.3,
                 0.6, 0.3, 0.15, 0.08, 0.04, 0.01)

HOSPITALS = ("复旦大学附属闵行医院", "复旦大学附属上海市第五人民医院", "上海市闵行区妇幼保健院",
             "复旦大学附属妇产科医院(黄浦,杨浦院区)",  # an ASCII comma: the CSV writer quotes it
             "中国福利会国际和平妇幼保健院", "上海市第一妇婴保健院")
HOSPITAL_WEIGHTS = (0.30, 0.25, 0.15, 0.12, 0.10, 0.08)
MARRIAGE_OFFICES = ("闵行区民政局婚姻登记处", "闵行区婚姻登记中心（七宝）")
CONTRACEPTION = ("无", "宫内节育器", "绝育", "皮埋", "口服药", "避孕套", "其他")
CONTRACEPTION_MARRIED = (0.12, 0.45, 0.08, 0.01, 0.05, 0.27, 0.02)
CONTRACEPTION_SINGLE = (0.80, 0.01, 0.0, 0.0, 0.04, 0.14, 0.01)
POINT_TYPES = ("社区", "流动人口集聚点", "娱乐场所", "机关", "商务楼宇", "学校", "宾馆旅店")
POINT_WEIGHTS = (0.45, 0.18, 0.10, 0.09, 0.12, 0.06, 0.0)  # hotels' points come from the hotels
HOTEL_BRANDS = ("锦江之星", "如家", "汉庭", "全季", "莫泰", "格林豪泰", "维也纳", "七天", "城市便捷", "星程",
                "桔子", "亚朵", "丽枫", "麗枫", "宜必思", "华住", "东湖", "春申", "莘城", "虹桥")
HOTEL_KINDS = ("酒店", "宾馆", "旅馆", "快捷酒店", "商务酒店", "招待所", "客栈")
